resource "aws_s3_bucket" "data" {
  count  = var.create ? 1 : 0
  bucket = "my-data"
}
