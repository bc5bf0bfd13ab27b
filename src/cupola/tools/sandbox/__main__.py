"""``python -m cupola.tools.sandbox``: can agents' commands be sandboxed on this machine?"""

import sys

from cupola.tools.sandbox.runner import availability

status = availability()
print(f"run_command sandbox: {status.describe()}")
sys.exit(0 if status.ok else 1)
