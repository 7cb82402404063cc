"""One module per endpoint family; each route parses, calls one service, renders."""
