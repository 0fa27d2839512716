"""The dispatchers' console (D1, D2): the live signals and the open-incident queue, over one websocket each."""
