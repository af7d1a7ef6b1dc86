/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "exg-core.h"

int
main (int argc, char **argv)
{
  return 1;
}
