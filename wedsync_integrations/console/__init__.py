"""The operations console: the admin pages on-call and staff start from.

- the dashboard (`/admin/console/`): what needs a person now, then trend charts;
- the organisation page (`/admin/console/organisations/<slug>/`): every integration of one tenant.

It reads every family through the kernel's registry and acts through the admin endpoints the
families already have (resume, test, replay, acknowledge), so a button here does exactly what the
same button does on the configuration or alert page.
"""
