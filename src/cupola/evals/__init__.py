"""Evaluations: golden sets, rule checks and judges over a matrix of variants, with repeats.

    import asyncio
    from cupola.client import LocalClient
    from cupola.config import Settings
    from cupola.evals import EvalEnv, EvalRunner, EvalStore, load_eval, run_to_end
    from cupola.runtime.runtime import Runtime

    settings = Settings()
    env = EvalEnv(LocalClient(Runtime(settings)), settings)
    store = EvalStore(settings.db_path("evals"))
    finished = asyncio.run(run_to_end(EvalRunner(env, store).run(load_eval("capitals.yaml"), repeat=3)))
    print(finished["summary"]["pass_rate"])

Modules: ``spec`` (the file's shape, templates), ``loader`` (files, datasets, checks with line
numbers), ``targets`` (what a cell runs), ``assertions`` and ``judges`` (graders), ``grading``,
``cache`` (execution contract, response cache), ``runner`` (the matrix), ``stats``, ``results``
(numbers and the JSON document), ``store`` (SQLite), ``report`` (HTML), ``junit``, ``compare``,
``calibration``, ``service`` (runs inside the server).
"""

from cupola.evals.loader import Eval, EvalFileError, load_eval, parse_eval
from cupola.evals.runner import EvalRunner, run_to_end
from cupola.evals.store import EvalStore
from cupola.evals.targets import EvalEnv

__all__ = ["Eval", "EvalEnv", "EvalFileError", "EvalRunner", "EvalStore", "load_eval", "parse_eval", "run_to_end"]
