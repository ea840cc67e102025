"""The shard stage with a crash injected: `python -m tests.data.shard_killer N STAGE-ARGS...`
runs `stages.shard` and SIGKILLs itself once N shards are committed and the first sample of
the next one is written (a kill in the middle of a shard). Fault injection lives here, in the
tests, not in the production code."""
from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    from biggan.data.shard.tarout import ShardFile
    from stages import shard

    kill_after, committed = int(argv[0]), [0]
    commit, add = ShardFile.commit, ShardFile.add

    def counting_commit(self: ShardFile) -> dict:
        rec = commit(self)
        committed[0] += 1
        return rec

    def add_then_die(self: ShardFile, key: str, fields: dict[str, bytes]) -> None:
        add(self, key, fields)
        if committed[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    ShardFile.commit, ShardFile.add = counting_commit, add_then_die
    return shard.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
