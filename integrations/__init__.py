"""The front doors outside the ``photobrain`` command: right-click entries for file managers and photo managers
(``linux``, ``windows``, ``macos``, applied by ``installer``). Every entry only runs ``photobrain action``."""
