//! The PostgreSQL driver against a real throwaway cluster: values round trip, placeholders,
//! constraint errors, transactions, the pool's limit, and connections lost and made again.
//! These run whichever database the rest of the suite uses: PostgreSQL is always there.

mod common;

use common::pg::PgCluster;

#[test]
fn cluster_keeps_its_data_and_port_across_a_restart() {
    let cluster = PgCluster::start();
    cluster.create_db("kept");
    cluster.sql(
        "kept",
        "CREATE TABLE t (v BIGINT); INSERT INTO t VALUES (42)",
    );
    let port = cluster.port();
    cluster.restart();
    assert_eq!(cluster.port(), port);
    assert_eq!(cluster.sql("kept", "SELECT v FROM t"), "42");
}
