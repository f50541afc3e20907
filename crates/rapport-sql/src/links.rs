//! The order links, computed once per command and joined by broadcast.
//!
//! A row that names only an order takes the customer of the purchase carrying it, and a
//! refund naming an order nets against that purchase (`Workspace::order_links`). The
//! links cover only the orders such rows name, usually a small share: they are computed
//! by one plan, collected here, and offered to the plans that need them as a table small
//! enough for DataFusion to build a hash table from in every task ("collect left"),
//! instead of a partitioned join that sends every event by order id across the cluster
//! before the grouping by customer sends it again. On a cluster the table is a Parquet
//! file in a scratch directory inside the workspace (which every executor sees, as the
//! scoring's; `rapport_store::scratch`), removed when the links are dropped.

use std::path::Path;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::{Session, SqlError, internal};

/// A build side up to this many rows is broadcast rather than shuffled: links of up to a
/// few million orders (about 100 bytes each) are cheaper to read in every task than
/// every event is to send across the cluster by order id.
pub(crate) const BROADCAST_ROWS: usize = 8_000_000;

/// And up to this many bytes.
pub(crate) const BROADCAST_BYTES: usize = 512 * 1024 * 1024;

/// The links registered as a table, for as long as this lives.
pub(crate) struct Links {
    /// The table's name: columns `order_id`, `link_customer`, `link_time`.
    pub(crate) table: String,
    /// Orders linked.
    pub(crate) rows: usize,
    context: SessionContext,
    _scratch: Option<rapport_store::scratch::Scratch>,
}

impl Drop for Links {
    fn drop(&mut self) {
        // Nothing to report on the way out: the table is the session's only.
        let _ = self.context.deregister_table(self.table.as_str());
    }
}

/// Link the orders `needed` (a query whose one column is `order_id`) to the purchase
/// that carries each: the earliest purchase (amount ≥ 0) with a customer, then the
/// smallest customer id, as the embedded path does. Registered as `table` on the session.
pub(crate) fn order_links(session: &Session, needed: &str, table: &str) -> Result<Links, SqlError> {
    let (schema, batches) = session.query(&format!(
        "WITH needed AS ({needed}),
         candidates AS (
             SELECT p.order_id, p.customer_id, p.time
             FROM needed n JOIN events.purchases p ON p.order_id = n.order_id
             WHERE p.customer_id IS NOT NULL AND p.customer_id <> '' AND p.amount >= 0
         ),
         firsts AS (SELECT order_id, min(time) AS link_time FROM candidates GROUP BY order_id)
         SELECT f.order_id, min(c.customer_id) AS link_customer, f.link_time
         FROM candidates c JOIN firsts f ON c.order_id = f.order_id AND c.time = f.link_time
         GROUP BY f.order_id, f.link_time"
    ))?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let context = session.context().clone();
    if context.table_exist(table).map_err(internal)? {
        context.deregister_table(table).map_err(internal)?;
    }
    let scratch = match session.cluster() {
        None => {
            context.register_table(table, Arc::new(MemTable::try_new(schema, vec![batches]).map_err(internal)?)).map_err(internal)?;
            None
        }
        Some(_) => {
            let scratch = rapport_store::scratch::Scratch::new(session.root(), "links")?;
            let file = scratch.path().join("links.parquet");
            write(&schema, &batches, &file)?;
            context.register_table(table, session.parquet_table(std::slice::from_ref(&file), None)?).map_err(internal)?;
            Some(scratch)
        }
    };
    Ok(Links { table: table.to_string(), rows, context, _scratch: scratch })
}

fn write(schema: &arrow::datatypes::SchemaRef, batches: &[RecordBatch], file: &Path) -> Result<(), SqlError> {
    let batch = arrow::compute::concat_batches(schema, batches).map_err(internal)?;
    rapport_store::output::write_parquet(&batch, file)?;
    Ok(())
}
