# The two commands a new machine needs (see README):
#   make demo   install, migrate, seed a demo, run web + worker + beat + vendor sandbox
#   make test   install, lint, check, and run the whole test suite
.PHONY: demo test bench drill install system-deps

install:
	@scripts/bootstrap.sh

system-deps:
	@scripts/system-deps.sh

demo: install
	@.venv/bin/python manage.py run_demo

test: install system-deps
	@scripts/test.sh

bench: install system-deps
	@.venv/bin/python -m bench

# Faults and abuse against the real processes; prints what was lost (nothing) and recovery times.
drill: install
	@.venv/bin/python -m drill
