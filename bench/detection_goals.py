"""What the detection benchmark aims for and the noise it plays with: shared by the run
(bench/detection.py) and its report (bench/detection_report.py), so neither imports the other."""

from __future__ import annotations

NOISE = [0.01, 0.04]  # base-load flicker, ± share per poll (--noise changes it)
GOALS = {"resistive_recall_30s": 0.98, "ebike_recall_10min": 0.95, "false_per_100": 1.0,
         "alarms_per_cycling_plugin": 1.0}
