"""xdist's ``--dist loadgroup`` scheduler, made to finish a run after a worker dies.

pytest-xdist 3.8.0 hangs after a crashed worker under loadgroup/loadscope, in two ways (both seen
here after the OOM killer took a worker: the survivor finished its test, then nothing, for hours):
- ``remove_node`` puts the dead worker's whole workload back on the queue, finished groups included;
  a finished group later goes out as an empty unit, the worker it goes to never reports it done,
  and at the end of the run every worker waits for work (pytest-xdist issues #1323, #1378).
- a replacement worker handed one group of one test waits for a second test before it runs the
  first, and nothing sends it one (#1327).
Also, the test the worker died on stays pending and is run again, by the next worker (#1371);
xdist has already reported it failed, and a test that killed one worker can kill the next.
"""
from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling


class RecoveringLoadGroupScheduling(LoadGroupScheduling):
    def remove_node(self, node):
        """Requeue only the dead worker's unfinished groups, minus the test it died on (returned)."""
        workload = self.assigned_work.pop(node)
        pending = [(scope, nodeid) for scope, unit in workload.items()
                   for nodeid, done in unit.items() if not done]
        if not pending:
            return None
        scope, crashed = pending[0]  # a worker runs its tests in the order they were assigned
        workload[scope][crashed] = True
        for scope, unit in workload.items():
            if not all(unit.values()):
                self.workqueue[scope] = unit
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed

    def _reschedule(self, node):
        """As xdist's, but a worker is never left holding a single test without a shutdown behind it:
        a worker runs a test only once it holds the next one (or the shutdown marker)."""
        super()._reschedule(node)
        while not node.shutting_down and self._pending_of(self.assigned_work[node]) < 2:
            if not self.workqueue:
                node.shutdown()
                return
            self._assign_work_unit(node)
