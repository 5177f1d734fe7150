resource "google_sql_database_instance" "main" {
  name             = "main"
  database_version = "MYSQL_5_7" # pinned by the app team
  region           = "us-central1"

  settings {
    tier = "db-f1-micro"
  }
}
