"""Run by Debian's own python3 (python3-gi): GLib's readers, as the file managers built on GLib use them.

    python3 glib_tool.py '{"op": "parse", "line": "..."}'       g_shell_parse_argv (Thunar's and Nemo's split)
    python3 glib_tool.py '{"op": "quote", "text": "..."}'       g_shell_quote (how Thunar puts a path in %f)
    python3 glib_tool.py '{"op": "uri", "path": "..."}'         g_filename_to_uri (Nemo's %U)
    python3 glib_tool.py '{"op": "keyfile", "path": "...", "group": "..."}'   every key of a group (GKeyFile)
    python3 glib_tool.py '{"op": "variants", "texts": [...], "types": "susssasa{sv}i"}'   gdbus call's parsing
"""
import json
import sys

import gi

gi.require_version("GLib", "2.0")
from gi.repository import GLib  # noqa: E402

request = json.loads(sys.argv[1])
op = request["op"]
if op == "parse":
    answer = GLib.shell_parse_argv(request["line"])[1]
elif op == "quote":
    answer = GLib.shell_quote(request["text"])
elif op == "uri":
    answer = GLib.filename_to_uri(request["path"], None)
elif op == "variants":  # the arguments as one tuple of the method's signature
    signature = GLib.VariantType.new("(" + request["types"] + ")")
    answer = list(GLib.Variant.parse(signature, "(" + ", ".join(request["texts"]) + ")", None, None).unpack())
else:
    keyfile = GLib.KeyFile()
    keyfile.load_from_file(request["path"], GLib.KeyFileFlags.NONE)
    answer = {key: keyfile.get_string(request["group"], key) for key in keyfile.get_keys(request["group"])[0]}
print(json.dumps(answer))
