"""Run one pipeline under tf.distribute in this process: ``python distribute_worker.py DEVICES PIPELINE_JSON``.

DEVICES logical CPU devices are made before TensorFlow starts (MirroredStrategy then mirrors over them);
prints the run's result and its per-epoch training loss as one JSON line."""

import json
import sys
from pathlib import Path

import tensorflow as tf

devices, pipeline = int(sys.argv[1]), json.loads(sys.argv[2])
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)

import pandas as pd  # noqa: E402

import seqpipe  # noqa: E402

result = seqpipe.run(pipeline, base_dir=Path.cwd(), progress=False, cache=False)
history = pd.read_csv(result.run_dir / "history.csv")
print(json.dumps({"status": result.status, "loss": history["loss"].tolist(),
                  "val_loss": history["val_loss"].tolist(), "export": str(result.export_path or ""),
                  "run_id": result.run_id, "run_dir": str(result.run_dir)}))
