// {{name}}: counts file opens per command (@opens[comm]). Make it yours.
#include <stdlib.h>

#include "plugin.h"

static wasmtrace_plugin_maps_own_counter_t opens;

bool exports_plugin_init(plugin_config_t *config, plugin_list_string_t *ret, plugin_string_t *err) {
  (void)err;
  plugin_config_free(config);
  plugin_string_t name, label;
  plugin_string_dup(&name, "opens");
  plugin_string_dup(&label, "comm");
  plugin_list_string_t labels = {&label, 1};
  opens = wasmtrace_plugin_maps_constructor_counter(&name, &labels);
  plugin_string_free(&name);
  plugin_string_free(&label);

  // The probes this plugin wants; the host frees the list.
  ret->len = 1;
  ret->ptr = malloc(sizeof(plugin_string_t));
  plugin_string_dup(&ret->ptr[0], "file.open");
  return true;
}

void exports_plugin_on_events(plugin_batch_t *batch) {
  // One host call for the whole batch: an update per file.open event. The
  // header fields are columns (batch->headers.pid.ptr[i], ...); a command
  // name is an index into batch->comms, a path a span of batch->text.
  wasmtrace_plugin_events_list_body_t *bodies = &batch->bodies;
  plugin_tuple2_list_string_u64_t *updates = calloc(bodies->len, sizeof(*updates));
  size_t n = 0;
  for (size_t i = 0; i < bodies->len; i++) {
    if (bodies->ptr[i].tag != WASMTRACE_PLUGIN_EVENTS_BODY_FILE_OPEN)
      continue;
    plugin_string_t *comm = &batch->comms.ptr[batch->headers.comm.ptr[i]];
    updates[n].f0.ptr = malloc(sizeof(plugin_string_t));
    updates[n].f0.len = 1;
    plugin_string_dup_n(&updates[n].f0.ptr[0], (const char *)comm->ptr, comm->len);
    updates[n].f1 = 1;
    n++;
  }
  plugin_list_tuple2_list_string_u64_t list = {updates, n};
  if (n)
    wasmtrace_plugin_maps_method_counter_add_many(wasmtrace_plugin_maps_borrow_counter(opens), &list);
  plugin_list_tuple2_list_string_u64_free(&list);
  plugin_batch_free(batch);
}

void exports_plugin_on_tick(void) {}
