raise RuntimeError("TABLE_NAME is not set")
