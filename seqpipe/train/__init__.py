"""Training loops on top of keras.Model.fit."""
