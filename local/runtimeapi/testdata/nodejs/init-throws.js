throw new RangeError("TABLE_NAME is not set");
