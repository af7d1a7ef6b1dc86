/* exg-tor-process.h: a tor that Exitgate starts, owns and stops.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "exg-tor-control.h"

G_BEGIN_DECLS

#define EXG_TOR_PROCESS_DEFAULT_TOR "/usr/sbin/tor"

#define EXG_TYPE_TOR_PROCESS (exg_tor_process_get_type ())
G_DECLARE_FINAL_TYPE (ExgTorProcess, exg_tor_process, EXG, TOR_PROCESS, GObject)

ExgTorProcess *exg_tor_process_new                  (const char           *data_dir);

void           exg_tor_process_set_tor_path         (ExgTorProcess        *self,
                                                     const char           *path);
void           exg_tor_process_set_torrc_file       (ExgTorProcess        *self,
                                                     const char           *path);
void           exg_tor_process_add_torrc_line       (ExgTorProcess        *self,
                                                     const char           *line);
void           exg_tor_process_set_disable_network  (ExgTorProcess        *self,
                                                     gboolean              disable);

void           exg_tor_process_start_async          (ExgTorProcess        *self,
                                                     GCancellable         *cancellable,
                                                     GAsyncReadyCallback   callback,
                                                     gpointer              user_data);
gboolean       exg_tor_process_start_finish         (ExgTorProcess        *self,
                                                     GAsyncResult         *result,
                                                     GError              **error);

ExgTorControl *exg_tor_process_get_control          (ExgTorProcess        *self);
const char    *exg_tor_process_get_identifier       (ExgTorProcess        *self);
gboolean       exg_tor_process_is_running           (ExgTorProcess        *self);
int            exg_tor_process_get_bootstrap_progress (ExgTorProcess      *self);
const char    *exg_tor_process_get_bootstrap_summary  (ExgTorProcess      *self);

void           exg_tor_process_set_network_enabled_async  (ExgTorProcess        *self,
                                                           gboolean              enabled,
                                                           GCancellable         *cancellable,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
gboolean       exg_tor_process_set_network_enabled_finish (ExgTorProcess        *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);

void           exg_tor_process_stop                 (ExgTorProcess        *self);

G_END_DECLS
