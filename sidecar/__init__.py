"""photobrain's processor and command line: tagging a library with on-device AI."""

__version__ = "0.1.0"
