resource "aws_neptune_cluster_snapshot" "nightly" {
  db_cluster_identifier          = aws_neptune_cluster.main.id
  db_cluster_snapshot_identifier = "nightly"
}
