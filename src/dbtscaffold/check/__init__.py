"""`dbtscaffold check`'s checks: each reads (never writes) and returns a Finding.

finding.py (Finding, the statuses, the Context the checks share), environment.py (the
projects, profiles.yml, the target, env_var(), adapters, the dbt executable), state.py
(parse on load, the manifest, asset keys, seeds), definitions.py (the runtime copy, the
deploy files, the definitions load), runner.py (the list, in order, and the report).
"""
