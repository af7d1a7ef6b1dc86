#!/usr/bin/python3
# test-smoke.py: one end-to-end run of the real app through AT-SPI, as a
# screen reader or a user would drive it: launch, pick an exit country in
# the "Exit country" combo, check app.exit-country over D-Bus, quit with
# Ctrl+Q.  The logic itself is tested in process (test-window); this proves
# the pieces fit together and the controls are accessible by name.
#
# Run under tests/ui/run-under-xvfb.sh with EXITGATE and EXG_MAKE_MMDB set.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import exgui  # noqa: E402
from exgui import poll  # noqa: E402

# dogtail: the defaults (1 s per action, a GSettings check that exits the
# script when toolkit-accessibility is off) suit interactive use, not tests.
from dogtail.config import config  # noqa: E402
config.checkForA11y = False
config.logDebugToFile = False
config.logDebugToStdOut = False
config.defaultDelay = 0.05
config.actionDelay = 0.05
config.searchBackoffDuration = 0.1
config.searchCutoffCount = 50
from dogtail import rawinput  # noqa: E402
from dogtail import tree  # noqa: E402
sys.excepthook = sys.__excepthook__      # dogtail hides tracebacks otherwise


def find_app(pid):
    for a in tree.root.applications():
        try:
            if a.get_process_id() == pid:
                return a
        except Exception:
            continue
    return None


def main():
    r = exgui.Results()
    exe = exgui.app_binary()
    setup = exgui.TestSetup().make()
    app = None
    try:
        env = exgui.app_env()
        env["NO_AT_BRIDGE"] = "0"               # 1 hides the app from AT-SPI
        app = exgui.Proc([exe, "--listen", "127.0.0.1:0", "--config", setup.config,
                          "--geoip", setup.mmdb], env=env, name="exitgate")

        node = poll(lambda: find_app(app.p.pid), timeout=15, interval=0.1)
        r.require("the app appears in the accessibility tree", node is not None)
        frame = node.findChild(lambda n: n.roleName == "frame", requireResult=False)
        r.require("it has a window", frame is not None)

        combo = frame.findChild(lambda n: n.name == "Exit country"
                                and n.roleName == "combo box", requireResult=False)
        r.require("the combo is named “Exit country”", combo is not None)
        switch = frame.findChild(lambda n: n.name == "Proxy enabled", requireResult=False)
        r.check("the proxy switch is named “Proxy enabled”", switch is not None)
        def table(name):
            return frame.findChild(lambda n: n.name == name
                                   and n.roleName in ("table", "tree table"),
                                   requireResult=False)
        r.check("a table is named “Connections”", table("Connections") is not None)
        # Only the shown page of the stack is in the tree: switch to it.
        tab = frame.findChild(lambda n: n.name == "Name Lookups"
                              and n.roleName in ("radio button", "page tab"),
                              requireResult=False)
        r.check("the page switcher has “Name Lookups”", tab is not None)
        if tab is not None:
            tab.doActionNamed("click")
            r.check("a table is named “Name lookups”",
                    poll(lambda: table("Name lookups")) is not None)

        # The combo's items sit in its (unshown) menu; countries arrive as
        # their routers come up.
        def items():
            menu = combo.findChild(lambda n: n.roleName == "menu", requireResult=False,
                                   showingOnly=False)
            kids = menu.children if menu is not None else []
            return kids if len(kids) >= 2 else None
        kids = poll(items, timeout=15, interval=0.1)
        r.require("the combo lists Any country and the countries", kids is not None)
        names = [k.name for k in kids]
        r.check("the first entry is “Any country”", "Any country" in names[0], names)

        combo.querySelection().selectChild(1)
        code = poll(lambda: (lambda s: s if s else None)(exgui.action_state("exit-country")))
        known = {c.lower() for _, _, c in exgui.ROUTERS}
        r.check("picking “%s” sets app.exit-country" % names[1],
                isinstance(code, str) and code.lower() in known, code)
        sel = combo.querySelection()
        r.check("the combo shows the pick",
                sel.nSelectedChildren == 1 and sel.getSelectedChild(0).name == names[1])

        # Ctrl+Q.  No window manager: focus follows the pointer.
        x, y = frame.position
        w, h = frame.size
        rawinput.absoluteMotion(x + w // 2, y + h // 2)
        rawinput.keyCombo("<Control>q")
        rc = app.wait_exit(10)
        r.check("Ctrl+Q quits the app with status 0", rc == 0, rc)
    except exgui.Failed:
        pass
    finally:
        if app is not None:
            app.stop()
        setup.cleanup()
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
