"""Every helper the tests share: processes, registries, proxies, config files, checks.

Fixtures stay in the ``conftest.py`` files (pytest finds them there); what
they and the tests call lives here.
"""
