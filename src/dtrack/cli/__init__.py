"""The command line: click commands over the library; the only place with an event loop."""
