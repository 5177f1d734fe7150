resource "aws_instance" "web" {
  ami           = "ami-123"
  instance_type = "m4.large"
}
