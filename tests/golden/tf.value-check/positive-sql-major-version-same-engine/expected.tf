resource "google_sql_database_instance" "main" {
  name             = "main"
  database_version = "MYSQL_8_0" # pinned by the app team
  region           = "us-central1"

  settings {
    tier = "db-f1-micro"
  }
}
