"""POST /data/save: the batch save."""
