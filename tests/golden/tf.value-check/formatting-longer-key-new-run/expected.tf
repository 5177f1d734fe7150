resource "aws_db_instance" "default" {
  engine         = "postgres"
  instance_class = "db.t3.micro"
  username       = "admin" # rotated by vault

  iam_database_authentication_enabled = true
}
