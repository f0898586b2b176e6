"""Export: SavedModels with string signatures, and the MLflow pyfunc wrapper."""
