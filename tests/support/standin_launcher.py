"""`python -m tools.launcher run` with stand-ins for Rasa and the app (`sleep`), for the
signal tests: the same `serve()`, `Stack.stop()` and `spawn()` as
the real launcher, without training or starting anything heavy.

    python -m tests.support.standin_launcher DIR [--app-exits]

writes DIR/pids.json ({"rasa": pid, "app": pid}) once both children run; with
`--app-exits` the app stand-in exits by itself after a moment (a crash).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.settings import load_settings
from tools import ROOT
from tools.launcher import Stack, serve
from tools.processes import spawn

STANDIN = ["sleep", "600"]


class StandInStack(Stack):
    app_exits = False

    def start(self, timeout_s: float = 180) -> None:
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in ("rasa", "app"):
            argv = ["sleep", "0.5"] if name == "app" and self.app_exits else STANDIN
            self.processes[name] = spawn(
                argv,
                cwd=self.root,
                env={"PATH": "/usr/bin:/bin"},
                log=logs / f"{name}.out",
                bound_to_parent=self.bound_to_parent,
            )
            self.startup_s[name] = 0.0
        pids = {name: proc.pid for name, proc in self.processes.items()}
        tmp = self.settings.data_dir / "pids.json.tmp"
        tmp.write_text(json.dumps(pids))
        tmp.replace(self.settings.data_dir / "pids.json")


def main(data_dir: Path, app_exits: bool = False) -> int:
    settings = load_settings(env={"GUICHET_DATA_DIR": str(data_dir)})
    stack = StandInStack(settings, ROOT / "unused-model", bound_to_parent=True)
    stack.app_exits = app_exits
    return serve(stack)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), "--app-exits" in sys.argv[2:]))
