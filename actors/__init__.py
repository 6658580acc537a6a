"""The worker side of Kiln: `dramatiq actors` imports this package and gets every actor."""
