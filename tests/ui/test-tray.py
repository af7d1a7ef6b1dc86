#!/usr/bin/python3
# test-tray.py: the tray contract over D-Bus, against the real app.
#
# A stand-in StatusNotifierWatcher runs on the (private) session bus; the app
# must register its item, export a menu whose items are all enabled but for
# a country whose exits are all down (listed, greyed out), and the menu must
# drive the app's actions: "Proxy enabled" really closes and
# reopens the listener, a country in "Exit country" sets app.exit-country,
# the icon follows the state, and "Quit" ends the app cleanly.
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
ITEM_PATH = "/org/ayatana/NotificationItem/exitgate"
ICON_ON = "exitgate-on-symbolic"
ICON_OFF = "exitgate-off-symbolic"


def sni_props(bus_name, path):
    return exgui.call(bus_name, path, "org.freedesktop.DBus.Properties", "GetAll",
                      GLib.Variant("(s)", (SNI,)), "(a{sv})")[0]


def layout(bus_name, menu_path):
    """The whole menu as nested dicts {id, props, children}."""
    revision, root = exgui.call(bus_name, menu_path, DBUSMENU, "GetLayout",
                                GLib.Variant("(iias)", (0, -1, [])), "(u(ia{sv}av))")

    def node(n):
        ident, props, children = n
        return {"id": ident, "props": props, "children": [node(c) for c in children]}
    return node(root)


def walk(n):
    yield n
    for c in n["children"]:
        yield from walk(c)


def label(n):
    # Mnemonics: "_Quit" is "Quit".
    return n["props"].get("label", "").replace("_", "")


def find(root, text):
    for n in walk(root):
        if label(n) == text:
            return n
    return None


def click(bus_name, menu_path, item):
    exgui.call(bus_name, menu_path, DBUSMENU, "Event",
               GLib.Variant("(isvu)", (item["id"], "clicked", GLib.Variant("i", 0), 0)))


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    r = exgui.Results()
    exe = exgui.app_binary()
    setup = exgui.TestSetup().make()
    # An exit in France that is down: an upstream proxy that refuses.
    with open(setup.config, "a") as f:
        f.write("[exit Paris]\ntype=socks5\naddress=127.0.0.1\nport=%d\ncountry=FR\n\n"
                % closed_port())
    watcher = app = None
    try:
        watcher = exgui.Proc(["/usr/bin/python3",
                              os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "fake-watcher.py")], name="watcher")
        r.require("the watcher owns org.kde.StatusNotifierWatcher",
                  watcher.wait_for(r"^READY ") is not None)

        app = exgui.Proc([exe, "--hidden", "--listen", "127.0.0.1:0",
                          "--config", setup.config, "--geoip", setup.mmdb],
                         env=exgui.app_env(), name="exitgate")
        m = watcher.wait_for(r"^REGISTERED (\S+) (\S+)$", timeout=15)
        r.require("the app registers its item with the watcher", m is not None,
                  "watcher said: %r" % watcher.seen)
        bus_name, path = m.groups()
        r.check("the item is at %s" % ITEM_PATH, path == ITEM_PATH, path)

        props = sni_props(bus_name, path)
        r.check("Id is exitgate", props.get("Id") == "exitgate", props.get("Id"))
        r.check("Status is Active", props.get("Status") == "Active", props.get("Status"))
        r.check("Title is set", bool(props.get("Title")), props.get("Title"))
        r.check("IconName is one of our icons", props.get("IconName") in (ICON_ON, ICON_OFF),
                props.get("IconName"))
        menu_path = props.get("Menu")
        r.require("the item has a menu", menu_path == path + "/Menu", menu_path)

        # The app is up: its actions are on the bus too.
        r.require("the app exports its actions",
                  poll(lambda: exgui.name_has_owner(exgui.APP_ID)))

        # Every country with exits is listed; those with an exit up are
        # enabled once their first checks answer, France (down) stays greyed.
        def country_items():
            sub = find(layout(bus_name, menu_path), "Exit country")
            if sub is None:
                return None
            items = [c for c in sub["children"] if c["props"].get("type") != "separator"]
            enabled = {label(c): c["props"].get("enabled", True) for c in items}
            france = [t for t in enabled if t.endswith("France")]
            if (len(items) < 5 or not france or enabled[france[0]]
                    or sum(enabled.values()) != len(items) - 1):
                return None
            return items
        countries = poll(country_items, timeout=15)

        def shown():
            sub = find(layout(bus_name, menu_path), "Exit country")
            return sub and [(label(c), c["props"].get("enabled", True))
                            for c in sub["children"]]
        r.require("the Exit country submenu lists Any and four countries, only France greyed",
                  countries is not None, None if countries else shown())

        root = layout(bus_name, menu_path)
        for text in ("Proxy enabled", "Exit country", "Use as system proxy",
                     "Show Exitgate", "Quit"):
            r.check("the menu has “%s”" % text, find(root, text) is not None)
        disabled = [label(n) for n in walk(root) if n["id"] != 0
                    and n["props"].get("enabled", True) is False]
        r.check("no menu item is disabled but France, whose exit is down",
                len(disabled) == 1 and disabled[0].endswith("France"), disabled)
        hidden = [label(n) for n in walk(root) if n["id"] != 0
                  and n["props"].get("visible", True) is False]
        r.check("no menu item is hidden", not hidden, hidden)
        proxy_item = find(root, "Proxy enabled")
        r.check("“Proxy enabled” is a check item",
                proxy_item["props"].get("toggle-type") == "checkmark",
                proxy_item["props"].get("toggle-type"))
        r.check("“Any country” comes first", label(countries[0]) == "Any country",
                label(countries[0]))
        r.check("the countries are radio items",
                all(c["props"].get("toggle-type") == "radio" for c in countries),
                [c["props"].get("toggle-type") for c in countries])
        r.check("“Use as system proxy” is a check item",
                find(root, "Use as system proxy")["props"].get("toggle-type") == "checkmark")

        # Make sure the proxy is on before toggling it from the tray.
        if exgui.action_state("proxy-enabled") is not True:
            exgui.activate("proxy-enabled", GLib.Variant("b", True))
        r.require("app.proxy-enabled is on",
                  poll(lambda: exgui.action_state("proxy-enabled") is True))
        ports = poll(lambda: exgui.listening_ports(app.p.pid))
        r.require("the app listens on a TCP port", bool(ports), ports)
        port = min(ports)
        r.check("a connection to the listener is accepted",
                exgui.connect_result(port) == "ok")
        r.check("IconName is %s while on" % ICON_ON,
                poll(lambda: sni_props(bus_name, path).get("IconName") == ICON_ON))

        # Off from the tray.
        click(bus_name, menu_path, find(layout(bus_name, menu_path), "Proxy enabled"))
        r.check("clicking “Proxy enabled” turns app.proxy-enabled off",
                poll(lambda: exgui.action_state("proxy-enabled") is False))
        r.check("the listener is closed: connect is refused",
                poll(lambda: exgui.connect_result(port) == "refused"),
                exgui.connect_result(port))
        r.check("the app listens on no port",
                poll(lambda: not exgui.listening_ports(app.p.pid)),
                exgui.listening_ports(app.p.pid))
        r.check("IconName is %s while off" % ICON_OFF,
                poll(lambda: sni_props(bus_name, path).get("IconName") == ICON_OFF),
                sni_props(bus_name, path).get("IconName"))
        r.check("the check mark follows (off)",
                poll(lambda: find(layout(bus_name, menu_path),
                                  "Proxy enabled")["props"].get("toggle-state") == 0))

        # On again.
        click(bus_name, menu_path, find(layout(bus_name, menu_path), "Proxy enabled"))
        r.check("clicking it again turns app.proxy-enabled on",
                poll(lambda: exgui.action_state("proxy-enabled") is True))
        ports = poll(lambda: exgui.listening_ports(app.p.pid))
        r.check("the listener is open again", bool(ports), ports)
        if ports:
            r.check("a connection to the reopened listener is accepted",
                    exgui.connect_result(min(ports)) == "ok")
        r.check("IconName is %s again" % ICON_ON,
                poll(lambda: sni_props(bus_name, path).get("IconName") == ICON_ON))
        r.check("the check mark follows (on)",
                poll(lambda: find(layout(bus_name, menu_path),
                                  "Proxy enabled")["props"].get("toggle-state") == 1))

        # A country from the submenu.
        before = exgui.action_state("exit-country")
        r.check("app.exit-country starts as a string", isinstance(before, str), before)
        pick = [c for c in countries[1:] if c["props"].get("enabled", True)][0]
        click(bus_name, menu_path, pick)
        chosen = poll(lambda: (lambda s: s if s not in ("", None, before) else None)(
            exgui.action_state("exit-country")))
        known = {c.lower() for _, _, c in exgui.ROUTERS}
        r.check("picking “%s” sets app.exit-country to its code" % label(pick),
                isinstance(chosen, str) and chosen.lower() in known, chosen)

        def radio_state(text):
            sub = find(layout(bus_name, menu_path), "Exit country")
            n = sub and next((c for c in sub["children"] if label(c) == text), None)
            return n and n["props"].get("toggle-state")
        r.check("its radio item is checked",
                poll(lambda: radio_state(label(pick)) == 1), radio_state(label(pick)))
        r.check("“Any country” is unchecked", radio_state("Any country") == 0,
                radio_state("Any country"))

        any_item = find(layout(bus_name, menu_path), "Any country")
        click(bus_name, menu_path, any_item)
        r.check("picking “Any country” sets app.exit-country to \"\"",
                poll(lambda: exgui.action_state("exit-country") == ""),
                exgui.action_state("exit-country"))

        # The system proxy toggle: only its state here (test-system-proxy
        # checks the settings it writes); switched back at once.
        before = exgui.action_state("system-proxy")
        click(bus_name, menu_path, find(layout(bus_name, menu_path), "Use as system proxy"))
        r.check("clicking “Use as system proxy” flips app.system-proxy",
                poll(lambda: exgui.action_state("system-proxy") is (not before)),
                exgui.action_state("system-proxy"))
        click(bus_name, menu_path, find(layout(bus_name, menu_path), "Use as system proxy"))
        r.check("clicking it again flips it back",
                poll(lambda: exgui.action_state("system-proxy") is before),
                exgui.action_state("system-proxy"))

        # --hidden: no window until "Show Exitgate".
        r.check("--hidden shows no window", not exgui.visible_windows(app.p.pid),
                exgui.visible_windows(app.p.pid))
        click(bus_name, menu_path, find(layout(bus_name, menu_path), "Show Exitgate"))
        r.check("“Show Exitgate” shows the window",
                poll(lambda: exgui.visible_windows(app.p.pid)))

        # Quit from the tray.
        click(bus_name, menu_path, find(layout(bus_name, menu_path), "Quit"))
        rc = app.wait_exit(10)
        r.check("“Quit” ends the app with status 0", rc == 0, rc)
        r.check("the watcher sees the item go",
                watcher.wait_for(r"^UNREGISTERED %s " % bus_name) is not None,
                watcher.seen)
    except exgui.Failed:
        pass
    except GLib.Error as e:
        r.check("D-Bus calls succeed", False, e.message)
    finally:
        for proc in (app, watcher):
            if proc is not None:
                proc.stop()
        setup.cleanup()
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
