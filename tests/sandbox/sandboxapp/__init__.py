"""A minimal installed app whose `sandbox` module the sandbox must discover on its own."""
