// lifetime: how long processes live, as a power-of-two histogram in
// microseconds (@lifetime_us), and how they ended (@exits[how]).
// Probe: process.exit. Written in C against the bindings `wit-bindgen c`
// generates from wasmtrace's WIT.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static wasmtrace_plugin_maps_own_log2_histogram_t lifetimes;
static wasmtrace_plugin_maps_own_counter_t exits;

static plugin_string_t str(const char *s) {
  plugin_string_t out;
  plugin_string_dup(&out, s);
  return out;
}

bool exports_plugin_init(plugin_config_t *config, plugin_list_string_t *ret, plugin_string_t *err) {
  (void)err;
  plugin_config_free(config);

  plugin_string_t name = str("lifetime_us");
  plugin_list_string_t no_labels = {NULL, 0};
  lifetimes = wasmtrace_plugin_maps_constructor_log2_histogram(&name, &no_labels);
  plugin_string_free(&name);

  plugin_string_t exits_name = str("exits");
  plugin_string_t how = str("how");
  plugin_list_string_t labels = {&how, 1};
  exits = wasmtrace_plugin_maps_constructor_counter(&exits_name, &labels);
  plugin_string_free(&exits_name);
  plugin_string_free(&how);

  // The probes this plugin wants; the host frees the list.
  ret->len = 1;
  ret->ptr = malloc(sizeof(plugin_string_t));
  ret->ptr[0] = str("process.exit");
  return true;
}

void exports_plugin_on_events(plugin_batch_t *batch) {
  // One host call per map per batch, not one per event.
  wasmtrace_plugin_events_list_body_t *bodies = &batch->bodies;
  plugin_tuple2_list_string_u64_t *values = calloc(bodies->len, sizeof(*values));
  plugin_tuple2_list_string_u64_t *ends = calloc(bodies->len, sizeof(*ends));
  size_t n = 0;
  for (size_t i = 0; i < bodies->len; i++) {
    wasmtrace_plugin_events_body_t *body = &bodies->ptr[i];
    if (body->tag != WASMTRACE_PLUGIN_EVENTS_BODY_PROCESS_EXIT)
      continue;
    wasmtrace_plugin_events_process_exit_t *e = &body->val.process_exit;
    char how[32];
    if (e->signal)
      snprintf(how, sizeof(how), "signal %u", e->signal);
    else
      snprintf(how, sizeof(how), "exit %u", e->exit_code);
    values[n].f0 = (plugin_list_string_t){NULL, 0};
    values[n].f1 = e->lifetime_ns / 1000;
    ends[n].f0.ptr = malloc(sizeof(plugin_string_t));
    ends[n].f0.len = 1;
    ends[n].f0.ptr[0] = str(how);
    ends[n].f1 = 1;
    n++;
  }
  plugin_list_tuple2_list_string_u64_t v = {values, n}, x = {ends, n};
  if (n) {
    wasmtrace_plugin_maps_method_log2_histogram_record_many(wasmtrace_plugin_maps_borrow_log2_histogram(lifetimes), &v);
    wasmtrace_plugin_maps_method_counter_add_many(wasmtrace_plugin_maps_borrow_counter(exits), &x);
  }
  plugin_list_tuple2_list_string_u64_free(&v);
  plugin_list_tuple2_list_string_u64_free(&x);
  plugin_batch_free(batch);
}

void exports_plugin_on_tick(void) {}
