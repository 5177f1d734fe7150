# Older google providers defaulted database_version to MYSQL_5_6: which engine is unknown here.
resource "google_sql_database_instance" "legacy" {
  name   = "legacy"
  region = "us-central1"

  settings {
    tier = "db-custom-2-7680"
  }
}
