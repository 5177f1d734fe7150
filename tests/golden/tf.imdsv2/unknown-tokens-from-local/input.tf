resource "aws_instance" "web" {
  ami = "ami-123"
  metadata_options {
    http_tokens = local.tokens
  }
}
