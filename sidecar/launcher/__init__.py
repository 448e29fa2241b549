"""The launcher: a small search page served by ``photobrain serve`` itself (see ``site``), how a browser gets
in (``access``), the thumbnails it shows (``thumbs``) and what its buttons do on the desktop (``desktop``)."""
