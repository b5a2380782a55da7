/* SPDX-License-Identifier: Apache-2.0 */
/* The one version string of oshctl and oshd. */
#ifndef OSH_USERSPACE_VERSION_H
#define OSH_USERSPACE_VERSION_H

#define OSH_VERSION "0.1.0"

#endif
