/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `memshed top`: a live terminal view of the daemon. */
#ifndef MEMSHED_TOP_H
#define MEMSHED_TOP_H

int top_main(int argc, char **argv);

#endif
