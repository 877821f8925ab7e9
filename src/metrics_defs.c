/* metrics_defs: the one table of every metric the programs serve, by enum metric_id. */
#include "kprofefe/metrics.h"

static const double lag_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				     0.1,   0.25,   0.5,   1,    2.5,   5};
static const double upload_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					 0.5,   1,    2.5,   5,    10,  30};
static const double round_buckets[] = {1, 2, 5, 10, 12, 15, 20, 30, 45, 60, 120, 300};

#define N_BUCKETS(a) (sizeof(a) / sizeof((a)[0]))

const metric_def metrics_defs[METRIC_COUNT] = {
	[METRIC_TARGETS] = {"kprofefe_targets", METRIC_GAUGE,
			    "Pprof servers of this node's pods being scraped.", NULL, 0},
	[METRIC_TARGETS_INVALID_TOTAL] = {"kprofefe_targets_invalid_total", METRIC_COUNTER,
					  "Pods skipped for an invalid profefe.com annotation, or "
					  "with items of their profefe.com/port list refused.",
					  NULL, 0},
	[METRIC_PROFILES_COLLECTED_TOTAL] = {"kprofefe_profiles_collected_total", METRIC_COUNTER,
					     "Profiles fetched and handed to the upload queue, "
					     "by type.", NULL, 0},
	[METRIC_PROFILES_SKIPPED_TOTAL] = {"kprofefe_profiles_skipped_total", METRIC_COUNTER,
					   "Profiles fetched and not uploaded, by type and reason "
					   "(empty: no samples, which profefe refuses; first: "
					   "godeltaprof's first answer, the totals since the process "
					   "started).", NULL, 0},
	[METRIC_DELTA_IGNORED_TOTAL] = {"kprofefe_delta_ignored_total", METRIC_COUNTER,
					"Delta profiles asked for and answered cumulative (a Go "
					"server that ignores ?seconds=), stored as cumulative, by "
					"type.", NULL, 0},
	[METRIC_FETCH_TOTAL] = {"kprofefe_fetch_total", METRIC_COUNTER,
				"Profile fetches from pods by type and result (ok or why not).",
				NULL, 0},
	[METRIC_FETCH_BYTES_TOTAL] = {"kprofefe_fetch_bytes_total", METRIC_COUNTER,
				      "Response body bytes received from pods' pprof endpoints, "
				      "by type.", NULL, 0},
	[METRIC_FETCH_BUDGET_WAITS_TOTAL] = {"kprofefe_fetch_budget_waits_total", METRIC_COUNTER,
					     "Fetches that waited to start because the memory "
					     "budget was full (each once a round).", NULL, 0},
	[METRIC_BUSY_RETRIES_TOTAL] = {"kprofefe_busy_retries_total", METRIC_COUNTER,
				       "Retries of a CPU profile or trace the pod was already "
				       "taking for someone else, by type and result (ok, busy "
				       "again, or another failure).", NULL, 0},
	[METRIC_POD_TLS_INSECURE_TOTAL] = {"kprofefe_pod_tls_insecure_total", METRIC_COUNTER,
					   "https targets added whose certificate is not verified "
					   "(--pod-insecure-skip-verify).", NULL, 0},
	[METRIC_POD_TOKEN_RELOADS_TOTAL] = {"kprofefe_pod_token_reloads_total", METRIC_COUNTER,
					    "Bearer tokens for pods read again after their file "
					    "changed, by result (ok, failed: the last one read is "
					    "sent).", NULL, 0},
	[METRIC_ROUND_DURATION_SECONDS] = {"kprofefe_round_duration_seconds", METRIC_HISTOGRAM,
					   "Time from a target's round start to its last profile "
					   "fetched or failed.", round_buckets,
					   N_BUCKETS(round_buckets)},
	[METRIC_CPU_SECONDS] = {"kprofefe_cpu_seconds", METRIC_GAUGE,
				"The default CPU profile length (--cpu-seconds): the least a "
				"round takes.", NULL, 0},
	[METRIC_UPLOADS_TOTAL] = {"kprofefe_uploads_total", METRIC_COUNTER,
				  "Uploads to profefe by profile type and result (ok, rejected, "
				  "retry).", NULL, 0},
	[METRIC_UPLOAD_BYTES_TOTAL] = {"kprofefe_upload_bytes_total", METRIC_COUNTER,
				       "Profile bytes stored by profefe.", NULL, 0},
	[METRIC_UPLOAD_DURATION_SECONDS] = {"kprofefe_upload_duration_seconds", METRIC_HISTOGRAM,
					    "Time of one upload to profefe, by result.",
					    upload_buckets, N_BUCKETS(upload_buckets)},
	[METRIC_LAST_UPLOAD_SUCCESS_TIMESTAMP_SECONDS] =
		{"kprofefe_last_upload_success_timestamp_seconds", METRIC_GAUGE,
		 "Unix time of the last upload profefe stored.", NULL, 0},
	[METRIC_QUEUE_DEPTH] = {"kprofefe_queue_depth", METRIC_GAUGE,
				"Profiles waiting in memory for upload.", NULL, 0},
	[METRIC_QUEUE_DROPPED_TOTAL] = {"kprofefe_queue_dropped_total", METRIC_COUNTER,
					"Profiles dropped from memory unsent (reason: full, "
					"shutdown).", NULL, 0},
	[METRIC_SPOOL_ENTRIES] = {"kprofefe_spool_entries", METRIC_GAUGE,
				  "Profiles waiting in the spool.", NULL, 0},
	[METRIC_SPOOL_BYTES] = {"kprofefe_spool_bytes", METRIC_GAUGE,
				"Bytes of the spool's entry files.", NULL, 0},
	[METRIC_SPOOL_OLDEST_AGE_SECONDS] = {"kprofefe_spool_oldest_age_seconds", METRIC_GAUGE,
					     "Age of the oldest spooled profile (since its "
					     "collection).", NULL, 0},
	[METRIC_SPOOL_WRITTEN_TOTAL] = {"kprofefe_spool_written_total", METRIC_COUNTER,
					"Profiles written to the spool.", NULL, 0},
	[METRIC_SPOOL_DRAINED_TOTAL] = {"kprofefe_spool_drained_total", METRIC_COUNTER,
					"Spooled profiles uploaded and deleted.", NULL, 0},
	[METRIC_SPOOL_EVICTED_TOTAL] = {"kprofefe_spool_evicted_total", METRIC_COUNTER,
					"Spooled profiles deleted unsent because of the size or age "
					"bound.", NULL, 0},
	[METRIC_SPOOL_QUARANTINED_TOTAL] = {"kprofefe_spool_quarantined_total", METRIC_COUNTER,
					    "Spool files moved to quarantine/ (unparsable, bad "
					    "checksum, foreign, unreadable).", NULL, 0},
	[METRIC_SPOOL_REJECTED_TOTAL] = {"kprofefe_spool_rejected_total", METRIC_COUNTER,
					 "Spooled profiles profefe refused, moved to rejected/.",
					 NULL, 0},
	[METRIC_SPOOL_ERRORS_TOTAL] = {"kprofefe_spool_errors_total", METRIC_COUNTER,
				       "Failed spool operations by operation and errno.", NULL, 0},
	[METRIC_MEMORY_BUDGET_BYTES] = {"kprofefe_memory_budget_bytes", METRIC_GAUGE,
					"The memory budget for profile data (--memory-budget); 0: "
					"none.", NULL, 0},
	[METRIC_MEMORY_BUDGET_USED_BYTES] = {"kprofefe_memory_budget_used_bytes", METRIC_GAUGE,
					     "Profile data held now: bodies being received, "
					     "profiles queued.", NULL, 0},
	[METRIC_MEMORY_BUDGET_ERRORS_TOTAL] = {"kprofefe_memory_budget_errors_total",
					       METRIC_COUNTER,
					       "Bytes given back to the memory budget that were "
					       "never taken: an accounting bug, also logged.", NULL,
					       0},
	[METRIC_KUBE_REQUESTS_TOTAL] = {"kprofefe_kube_requests_total", METRIC_COUNTER,
					"Requests to the Kubernetes API server, by verb and HTTP "
					"status code.", NULL, 0},
	[METRIC_WATCH_RESTARTS_TOTAL] = {"kprofefe_watch_restarts_total", METRIC_COUNTER,
					 "Restarts of the pod list/watch, by reason.", NULL, 0},
	[METRIC_CURL_ERRORS_TOTAL] = {"kprofefe_curl_errors_total", METRIC_COUNTER,
				      "libcurl calls that failed, by call (each is also logged).",
				      NULL, 0},
	[METRIC_LOOP_LAG_SECONDS] = {"kprofefe_loop_lag_seconds", METRIC_HISTOGRAM,
				     "How late the event loop's heartbeat timer ran: time the loop "
				     "spent on something else (disk, a long callback).",
				     lag_buckets, N_BUCKETS(lag_buckets)},
	[METRIC_READY] = {"kprofefe_ready", METRIC_GAUGE,
			  "1 when the collector has listed its node's pods (what /readyz "
			  "answers), else 0.", NULL, 0},
	[METRIC_BUILD_INFO] = {"kprofefe_build_info", METRIC_GAUGE,
			       "Always 1, labelled with the collector's version and revision.",
			       NULL, 0},
	[METRIC_PROCESS_CPU_SECONDS_TOTAL] = {"process_cpu_seconds_total", METRIC_COUNTER,
					      "User and system CPU time spent, in seconds.", NULL,
					      0},
	[METRIC_PROCESS_RESIDENT_MEMORY_BYTES] = {"process_resident_memory_bytes", METRIC_GAUGE,
						  "Resident memory size in bytes.", NULL, 0},
	[METRIC_PROCESS_START_TIME_SECONDS] = {"process_start_time_seconds", METRIC_GAUGE,
					       "Start time of the process since the Unix epoch, "
					       "in seconds.", NULL, 0},
};
