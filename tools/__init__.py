"""Tools around the app, not part of it: they start, train, evaluate and administer it.

- `tools/launcher.py`: `make run` / `make train` (Rasa and the app together), with
  `tools/rasa.py` (the model, its training, the `rasa run` command) and
  `tools/processes.py` (child processes that never outlive the launcher);
- `tools/scaled/`: `make run-scaled`, the scaled-out stack on one machine
  (PostgreSQL, Redis, Chroma, N Rasa, N apps, nginx from `nginx.conf`);
- `tools/privacy.py`: the RGPD command line (purge, export, delete);
- `tools/eval_stt.py`: word error rate and speed of a speech recogniser.

Tools may import every package of the project; nothing in `bot/`, `knowledge_base/`,
`voice/` or `actions/` imports them (import-linter contracts in pyproject.toml).
"""

from pathlib import Path

# The project's checkout: where config.yml, domain.yml and the venvs are.
ROOT = Path(__file__).resolve().parent.parent
