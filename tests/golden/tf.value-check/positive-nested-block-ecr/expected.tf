resource "aws_ecr_repository" "repo" {
  name = "app"
  image_tag_mutability = "IMMUTABLE"
  encryption_configuration {
    encryption_type = "KMS"
  }
}
