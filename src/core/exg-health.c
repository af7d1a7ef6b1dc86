/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Temporary stub until the real health checker lands: every router stays up. */
#include "config.h"
#include "exg-health.h"

struct _ExgHealth
{
  GObject            parent_instance;
  ExgRouterRegistry *registry;
};

G_DEFINE_FINAL_TYPE (ExgHealth, exg_health, G_TYPE_OBJECT)

static void
exg_health_finalize (GObject *object)
{
  g_clear_object (&EXG_HEALTH (object)->registry);
  G_OBJECT_CLASS (exg_health_parent_class)->finalize (object);
}

static void
exg_health_class_init (ExgHealthClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = exg_health_finalize;
}

static void
exg_health_init (ExgHealth *self)
{
}

ExgHealth *
exg_health_new (ExgRouterRegistry *registry,
                guint              interval)
{
  ExgHealth *self = g_object_new (EXG_TYPE_HEALTH, NULL);

  self->registry = g_object_ref (registry);
  return self;
}

void
exg_health_check_now (ExgHealth *self)
{
}
