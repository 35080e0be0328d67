package sqlstore

import (
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// userHotQueries are the queries of what users do most and what the web UI
// polls (its pages refresh themselves): a rerun, the agents list, the home
// page's hosts and batches, and a batch's runs. Each reads the caller's
// own rows, a page at a time, not every agent, batch or run there is;
// the lists of what the caller may see are merged reads (visible_lists.go),
// except for a caller who sees more than maxMergedProjects and a runs list
// narrowed to a status, which walk (visibleWalk).
func userHotQueries() []HotQuery {
	next := store.Page{Limit: 100, After: &store.Key{CreatedAt: time.Unix(1, 0), ID: "x"}}
	first := store.Page{Limit: 100}
	return []HotQuery{
		{Name: "rerun and UI: the caller's name", SQL: userByIDSQL, Args: []any{"u-1"}, Indexes: usersPK},
		{Name: "rerun: the batch", SQL: batchByIDSQL, Args: []any{"bat-1"}, Indexes: batchesPK},
		{Name: "rerun: its project's owner", SQL: projectOwnerSQL, Args: []any{"p"}, Indexes: []string{"sqlite_autoindex_projects_1", "projects_pkey"}},
		{Name: "rerun: its project's recipients", SQL: projectRecipientsSQL, Args: []any{"p"}, Indexes: []string{"sqlite_autoindex_project_recipients_1", "project_recipients_pkey"}},
		{Name: "rerun: the owner's agents on the batch's host", SQL: agentsOnHostSQL, Args: []any{"u-1", "gpu-01"}, Indexes: []string{"agents_user_host"}},

		// Either index on user_id bounds the agents list by the caller's
		// agents; with statistics PostgreSQL may take agents_user_host and
		// sort them.
		paged(listAgentsSQL("u-1", first)).as("agents list and UI home: the caller's agents", "agents_user_created", "agents_user_host"),
		paged(listAgentsSQL("u-1", next)).as("agents list and UI home: the next page", "agents_user_created", "agents_user_host"),
		{Name: "batches list and UI home: the projects the caller sees", SQL: visibleProjectsSQL, Args: []any{"u-1", "u-1", maxMergedProjects + 1},
			Indexes: []string{"projects_owner", "project_recipients_user"}},
		paged(mergedBatchesSQL("u-1", []string{"p1", "p2"}, store.BatchFilter{}, first)).as("batches list and UI home: the batches the caller sees", "batches_owner_created", "batches_project_created"),
		paged(mergedBatchesSQL("u-1", []string{"p1", "p2"}, store.BatchFilter{}, next)).as("batches list and UI home: the next page", "batches_owner_created", "batches_project_created"),
		paged(mergedBatchesSQL("u-1", []string{"p1"}, store.BatchFilter{Host: "gpu-01"}, next)).as("batches list and UI home: a host's", "batches_owner_created", "batches_project_created", "batches_owner_host", "batches_host"),
		paged(listBatchesSQL("u-1", store.BatchFilter{}, first)).as("batches list and UI home: a caller who sees too many projects to merge", "batches_created").walks(visibleWalk),
		paged(mergedRunsSQL("u-1", []string{"p1", "p2"}, store.RunFilter{}, first)).as("runs list and UI home: the runs the caller sees", "runs_batch_owner_created", "runs_batch_project_created"),
		paged(mergedRunsSQL("u-1", []string{"p1", "p2"}, store.RunFilter{}, next)).as("runs list and UI home: the next page", "runs_batch_owner_created", "runs_batch_project_created"),
		paged(listRunsSQL("u-1", store.RunFilter{Status: api.RunRunning}, first)).as("runs list: the running runs the caller sees", "runs_status_created"),
		paged(listRunsSQL("u-1", store.RunFilter{}, first)).as("runs list: a caller who sees too many projects to merge", "runs_created").walks(visibleWalk),
		{Name: "UI home: the hosts of the caller's batches without an agent", SQL: hostsWithoutAgentSQL, Args: []any{"u-1", "u-1", "u-1", "u-1", 20},
			Indexes: []string{"batches_owner_host"}},
		paged(listRunsSQL("u-1", store.RunFilter{BatchID: "bat-1"}, first)).as("batch page: its runs", "runs_batch_created"),
	}
}

// visibleWalk is why a list of what a user may see read with the one
// condition (visibleBatch) walks every batch or run newest first: neither
// engine turns an OR of "owner_id = ?" and two EXISTS into index ranges,
// so each reads the table's created index in order and tests each row
// until the page is full. A page costs the rows of other users it passes.
// The merged lists (visible_lists.go) read one range per source instead;
// the walk is left for a user who sees more than maxMergedProjects.
const visibleWalk = "a list of what the caller may see walks the whole created index until the page is full"

// paged is a paged list's query as the store builds it; as names it.
func paged(query string, args []any, err error) HotQuery {
	if err != nil {
		panic(err) // only a page limit below 1 fails
	}
	return HotQuery{SQL: query, Args: args}
}

func (q HotQuery) as(name string, indexes ...string) HotQuery {
	q.Name, q.Indexes = name, indexes
	return q
}

func (q HotQuery) walks(why string) HotQuery {
	q.Walk = why
	return q
}
