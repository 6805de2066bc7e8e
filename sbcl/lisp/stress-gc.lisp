;;;; Stress: collections started from several threads at once. Three
;;;; collectors call SB-EXT:GC with random pauses of 0 to 3 ms; two
;;;; long-lived consers check lists they keep across collections; two
;;;; creators make short-lived threads that cons and end (waited for by
;;;; polling THREAD-ALIVE-P), and interrupt some of them with a function
;;;; that collects garbage itself. For SBCL_TEST_ARGS seconds (default 10);
;;;; exits 104 when no thread had an error (common.lisp: STRESS-FINISH).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds* (test-arg 10))
(defvar *running* t)

(defun collector (count)
  (stress-lambda ("collector")
    (loop while *running*
          do (sb-ext:gc)
             (incf (car count))
             (sleep (/ (random 4) 1000.0)))))

(defun conser (count)
  (stress-lambda ("conser")
    (let ((keep (loop for i below 2000 collect i)))
      (loop while *running*
            do (incf (car count) (cons-strings (+ 100 (random 2000))))
               (unless (= (reduce #'+ keep) 1999000)
                 (error "kept list corrupted"))))))

(defun creator (count interrupts)
  (stress-lambda ("creator")
    (loop while *running*
          do (let ((th (sb-thread:make-thread
                        (stress-lambda ("worker") (cons-strings (random 3000)))
                        :name "worker")))
               (incf (car count))
               (when (zerop (random 4))
                 (try-interrupt th (lambda () (sb-ext:gc)) interrupts))
               (wait-polling th 0.0002)))))

(let* ((start (get-internal-real-time))
       (gcs (list 0))
       (conses (list 0))
       (made (list 0))
       (interrupts (list (list :accepted 0 :refused 0)))
       (threads (append
                 (loop repeat 3 collect (sb-thread:make-thread (collector gcs) :name "collector"))
                 (loop repeat 2 collect (sb-thread:make-thread (conser conses) :name "conser"))
                 (loop repeat 2 collect (sb-thread:make-thread (creator made interrupts) :name "creator")))))
  (loop with deadline = (stress-deadline *seconds*)
        while (stress-time-left-p deadline)
        do (sleep 0.05))
  (setf *running* nil)
  (mapc #'wait-polling threads)
  (stress-finish "gc" start (list* :gcs (car gcs) :strings (car conses) :workers (car made) (car interrupts))))
