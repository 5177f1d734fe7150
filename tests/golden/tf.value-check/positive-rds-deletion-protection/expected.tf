resource "aws_db_instance" "default" {
  identifier     = "app"
  engine         = "postgres"
  instance_class = "db.t3.micro"
  storage_encrypted = true

  deletion_protection = true
}
