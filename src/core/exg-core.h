/* exg-core.h: everything the app and the daemon use of the core.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-activity.h"
#include "exg-backend.h"
#include "exg-backend-direct.h"
#include "exg-backend-upstream.h"
#include "exg-backend-tor.h"
#include "exg-config.h"
#include "exg-engine.h"
#include "exg-error.h"
#include "exg-geoip.h"
#include "exg-iso3166.h"
#include "exg-health.h"
#include "exg-i18n.h"
#include "exg-router.h"
#include "exg-router-registry.h"
#include "exg-selection.h"
#include "exg-server.h"
#include "exg-socks-types.h"
#include "exg-tor-client.h"
