def handler(event, context):
    return {"package": True, "got": event.get("n")}
