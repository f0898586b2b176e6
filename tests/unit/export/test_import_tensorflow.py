"""import_tensorflow registers tensorflow_text's ops even when TensorFlow was imported first (by Keras, a task
module): exported models with tokenizer ops load only after it."""

import subprocess
import sys

CODE = """
import sys
import tensorflow  # as a task module's import of keras does before predict loads the SavedModel
assert "tensorflow_text" not in sys.modules
from seqpipe._quiet import import_tensorflow
tf = import_tensorflow()
assert tf is sys.modules["tensorflow"]
print("tensorflow_text" in sys.modules)
"""


def test_tensorflow_text_is_imported_even_when_tensorflow_already_is():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"
