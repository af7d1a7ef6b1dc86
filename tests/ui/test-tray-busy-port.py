#!/usr/bin/python3
# test-tray-busy-port.py: the tray's "Proxy enabled" never shows checked
# while the proxy is off.
#
# The app is started on a port this test already listens on.  A click on
# "Proxy enabled" makes the app try to listen, which fails: the action's
# state stays off, and the check mark exported over dbusmenu must stay off
# too (a GtkCheckMenuItem toggles itself before its action runs, and an
# action whose state does not change sends nothing back to undo that).
#
# Run under tests/ui/run-under-xvfb.sh, with EXITGATE (the app) and
# EXG_MAKE_MMDB set; meson does both.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gi.repository import GLib  # noqa: E402

import exgui  # noqa: E402
from exgui import poll  # noqa: E402

SNI = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"


def menu_item(bus_name, menu_path, text):
    _, root = exgui.call(bus_name, menu_path, DBUSMENU, "GetLayout",
                         GLib.Variant("(iias)", (0, -1, [])), "(u(ia{sv}av))")
    stack = [root]
    while stack:
        ident, props, children = stack.pop()
        if props.get("label", "").replace("_", "") == text:
            return ident, props
        stack.extend(children)
    return None, None


def toggle_state(bus_name, menu_path):
    return menu_item(bus_name, menu_path, "Proxy enabled")[1].get("toggle-state")


def click(bus_name, menu_path, ident):
    exgui.call(bus_name, menu_path, DBUSMENU, "Event",
               GLib.Variant("(isvu)", (ident, "clicked", GLib.Variant("i", 0), 0)))


def main():
    r = exgui.Results()
    exe = exgui.app_binary()
    setup = exgui.TestSetup().make()
    watcher = app = None
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]

        watcher = exgui.Proc(["/usr/bin/python3",
                              os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "fake-watcher.py")], name="watcher")
        r.require("the watcher owns org.kde.StatusNotifierWatcher",
                  watcher.wait_for(r"^READY ") is not None)

        env = exgui.app_env()
        env["EXITGATE_TRACE"] = "1"
        app = exgui.Proc([exe, "--hidden", "--listen", "127.0.0.1:%d" % port,
                          "--config", setup.config, "--geoip", setup.mmdb],
                         env=env, name="exitgate")
        r.require("the app's first start on the busy port fails",
                  app.wait_for(r"^EXITGATE-EVENT proxy-enabled false ", timeout=15)
                  is not None, app.seen)
        m = watcher.wait_for(r"^REGISTERED (\S+) (\S+)$", timeout=15)
        r.require("the app registers its item with the watcher", m is not None,
                  "watcher said: %r" % watcher.seen)
        bus_name, path = m.groups()
        props = exgui.call(bus_name, path, "org.freedesktop.DBus.Properties", "GetAll",
                           GLib.Variant("(s)", (SNI,)), "(a{sv})")[0]
        menu_path = props.get("Menu")
        r.require("the item has a menu", bool(menu_path), menu_path)
        r.require("the app exports its actions",
                  poll(lambda: exgui.name_has_owner(exgui.APP_ID)))

        r.check("app.proxy-enabled is off", exgui.action_state("proxy-enabled") is False,
                exgui.action_state("proxy-enabled"))
        r.check("“Proxy enabled” is unchecked at start",
                toggle_state(bus_name, menu_path) == 0, toggle_state(bus_name, menu_path))

        for attempt in (1, 2):
            ident, _ = menu_item(bus_name, menu_path, "Proxy enabled")
            click(bus_name, menu_path, ident)
            r.require("click %d: the app tries to listen, and fails" % attempt,
                      app.wait_for(r"^EXITGATE-EVENT proxy-enabled false ") is not None,
                      app.seen[-3:])
            r.check("click %d: app.proxy-enabled stays off" % attempt,
                    exgui.action_state("proxy-enabled") is False,
                    exgui.action_state("proxy-enabled"))
            # The menu's change reaches dbusmenu in an idle: a wrong check
            # mark shows up within a moment, so look for a while.
            wrong = poll(lambda: toggle_state(bus_name, menu_path) != 0, timeout=1.0)
            r.check("click %d: “Proxy enabled” stays unchecked" % attempt, not wrong,
                    toggle_state(bus_name, menu_path))
            r.check("click %d: the icon says off" % attempt,
                    exgui.call(bus_name, path, "org.freedesktop.DBus.Properties", "Get",
                               GLib.Variant("(ss)", (SNI, "IconName")), "(v)")[0]
                    == "exitgate-off-symbolic")

        # The port is free again: the same item turns the proxy on, checked.
        busy.close()
        ident, _ = menu_item(bus_name, menu_path, "Proxy enabled")
        click(bus_name, menu_path, ident)
        r.check("with the port free, a click turns app.proxy-enabled on",
                app.wait_for(r"^EXITGATE-EVENT proxy-enabled true ") is not None,
                app.seen[-3:])
        r.check("the check mark follows (on)",
                poll(lambda: toggle_state(bus_name, menu_path) == 1),
                toggle_state(bus_name, menu_path))
        r.check("a connection to the listener is accepted",
                exgui.connect_result(port) == "ok")
    except exgui.Failed:
        pass
    except GLib.Error as e:
        r.check("D-Bus calls succeed", False, e.message)
    finally:
        busy.close()
        for proc in (app, watcher):
            if proc is not None:
                proc.stop()
        setup.cleanup()
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
